// SPDX-License-Identifier: MIT
// Validates an OpenAPI document against the official 3.1 schema:
//   node validate_openapi.mjs FILE [CALL_NAME...]
// Each CALL_NAME must have a path (e.g. "/add&{a}&{b}" for add); exit 1 on any problem.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

const [file, ...names] = process.argv.slice(2);
const document = JSON.parse(readFileSync(file, "utf8"));
const validator = new Validator();
const result = await validator.validate(document);
let ok = result.valid && validator.version === "3.1";
if (!result.valid) console.error(JSON.stringify(result.errors, null, 2));
if (validator.version !== "3.1") console.error(`expected an OpenAPI 3.1 document, got ${validator.version}`);
const paths = Object.keys(document.paths ?? {});
for (const name of names) {
  if (!paths.some((p) => p === `/${name}` || p.startsWith(`/${name}&`))) {
    console.error(`no path for the call ${name}`);
    ok = false;
  }
}
console.log(`${file}: ${ok ? "valid" : "INVALID"} OpenAPI ${validator.version}, ${paths.length} paths`);
process.exit(ok ? 0 : 1);
