// SPDX-License-Identifier: MIT
// Wrong uses of the example calls: each marked line must be this TypeScript error,
// and no other line may be one (tests/client/run.sh wrong).
calls.add(2, "x"); // expect TS2345 (a string for a number)
calls.add(2); // expect TS2554 (too few arguments)
calls.add(1, 2, 3); // expect TS2554 (too many)
calls.hello(5); // expect TS2345
calls.notes.get("1"); // expect TS2345
calls.nope(); // expect TS2339 (no such call)
const text: Promise<string> = calls.add(1, 2); // expect TS2322 (it answers a number)
