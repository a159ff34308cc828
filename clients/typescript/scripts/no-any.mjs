// Fails when `any` is written anywhere in the package's TypeScript (src/, test/, the generated
// types included): the compiler's own parser finds the keyword, comments and strings aside.
import ts from "typescript";

const configPath = ts.findConfigFile(".", ts.sys.fileExists, "tsconfig.json");
const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(config, ts.sys, ".");
const found = [];
for (const fileName of parsed.fileNames) {
  const source = ts.createSourceFile(fileName, ts.sys.readFile(fileName), ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (node.kind === ts.SyntaxKind.AnyKeyword) {
      const { line, character } = source.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${fileName}:${line + 1}:${character + 1}: \`any\` (use unknown or a real type)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
if (found.length > 0) {
  process.stderr.write(found.join("\n") + "\n");
  process.exit(1);
}
process.stdout.write(`no \`any\` in ${parsed.fileNames.length} files\n`);
