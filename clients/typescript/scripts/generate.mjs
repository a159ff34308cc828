// Generates src/generated/contract.ts from schema/contract.json (the output of
// `backup-worker contract schema`) with json-schema-to-typescript.
//
//   node scripts/generate.mjs           write src/generated/contract.ts
//   node scripts/generate.mjs --check   exit 1 when the committed file differs from a fresh one
import { readFile, writeFile } from "node:fs/promises";
import { compile } from "json-schema-to-typescript";

const root = new URL("..", import.meta.url);
const schemaPath = new URL("schema/contract.json", root);
const outputPath = new URL("src/generated/contract.ts", root);

export async function generate() {
  const schema = JSON.parse(await readFile(schemaPath, "utf8"));
  const types = await compile(schema, "Contract", {
    bannerComment:
      "/* Generated from schema/contract.json by scripts/generate.mjs: do not edit.\n" +
      " * The schema is `backup-worker contract schema`'s output; see docs/contract.md. */",
    additionalProperties: false, // an object the schema leaves open says so itself
    unreachableDefinitions: true,
    strictIndexSignatures: true,
    format: true,
    cwd: new URL("schema/", root).pathname,
  });
  // The columns each row type names, for the queries' SELECT lists: one source for both.
  const columns = (name) => JSON.stringify(Object.keys(schema.definitions[name].properties));
  return (
    types +
    "\n/** The jobs columns a JobRow holds, in the schema's order. */\n" +
    `export const JOB_COLUMNS = ${columns("JobRow")} as const satisfies readonly (keyof JobRow)[];\n` +
    "\n/** The backups columns a BackupRow holds, in the schema's order. */\n" +
    `export const BACKUP_COLUMNS = ${columns("BackupRow")} as const satisfies readonly (keyof BackupRow)[];\n`
  );
}

const fresh = await generate();
if (process.argv.includes("--check")) {
  const committed = await readFile(outputPath, "utf8").catch(() => "");
  if (committed !== fresh) {
    process.stderr.write(
      "src/generated/contract.ts differs from the types schema/contract.json generates: " +
        "run `npm run generate` in clients/typescript and commit the result\n",
    );
    process.exit(1);
  }
} else {
  await writeFile(outputPath, fresh);
}
