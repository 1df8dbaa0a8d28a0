// SPDX-License-Identifier: MIT
// Uses the example calls as `cppapi types` declares them: must compile with tsc --strict.
const sum: Promise<number> = calls.add(2, 3);
sum.then((n: number) => n + 1);
calls.add(-1, 2).catch((error: CppapiError) => error.status + error.call.length);
calls.hello().then((greeting: string) => greeting.length);
calls.hello("Ana");
calls.notes.get(1).then((note: unknown) => note);
calls.echo("a&b", 1, true).then((list: unknown) => list);
calls.serverTime("now").then((time: string) => time.trim());
calls.serverTime();
