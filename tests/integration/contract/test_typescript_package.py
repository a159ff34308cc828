"""The TypeScript client agrees with the contract: its generated types are what the committed
schema generates, and it compiles under strict TypeScript without `any`."""

from __future__ import annotations

from tests.support import typescript


def test_the_generated_types_are_the_committed_schemas() -> None:
    typescript.installed()
    # Fails, naming `npm run generate`, when schema/contract.json changed and the types did not.
    typescript.run(typescript.tool("node"), "scripts/generate.mjs", "--check")


def test_the_package_compiles_strict_without_any() -> None:
    typescript.installed()
    typescript.run(
        typescript.tool("node"), "node_modules/typescript/bin/tsc", "-p", ".", "--noEmit"
    )
    typescript.run(typescript.tool("node"), "scripts/no-any.mjs")
