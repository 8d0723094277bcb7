import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Runs the TypeScript compiler on code written against the SDK, with the package's own compiler options:
 * typos in step data and unknown step ids must be compile errors, and the README's example must compile.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const STEP_TYPES = here('./fixtures/step-types.ts');
// The README's example is compiled as if it were this file (beside the other fixture, so '@glavito/client' resolves the same).
const README_EXAMPLE = here('./fixtures/readme-example.ts');

/** The example of a README (the SDK's, or the repository's "Build a frontend"), marked to be compiled here. */
function readmeExample(readmePath = '../README.md'): string {
  const readme = readFileSync(here(readmePath), 'utf8');
  const match = /<!-- example: compiled by (?:packages\/client\/)?test\/types\.test\.ts -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (!match) throw new Error(`${readmePath} has no example marked "compiled by test/types.test.ts"`);
  return match[1]!;
}

function compile(files: Record<string, string | undefined>): ts.Diagnostic[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    here('../tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('cannot read tsconfig.json');
  const host = ts.createCompilerHost(config.options);
  const virtual = new Map(Object.entries(files).filter((e): e is [string, string] => e[1] !== undefined));
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, onError, create) =>
    virtual.has(name) ? ts.createSourceFile(name, virtual.get(name)!, language) : getSourceFile.call(host, name, language, onError, create);
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
  const program = ts.createProgram({ rootNames: Object.keys(files), options: config.options, host });
  return [
    ...program.getGlobalDiagnostics(),
    ...Object.keys(files).flatMap((f) => [
      ...program.getSyntacticDiagnostics(program.getSourceFile(f)),
      ...program.getSemanticDiagnostics(program.getSourceFile(f)),
    ]),
  ];
}

const describeDiagnostic = (d: ts.Diagnostic) => {
  const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
  return { line, code: `TS${d.code}`, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') };
};

describe('the SDK types, checked by the TypeScript compiler', () => {
  it('rejects a misspelled step field, an unknown step id, a missing or foreign field, a wrong push name, with those diagnostics', () => {
    const stepDiagnostics = compile({ [STEP_TYPES]: undefined }).map(describeDiagnostic);
    const expected = readFileSync(STEP_TYPES, 'utf8')
      .split('\n')
      .flatMap((text, i) => {
        const m = /\/\/ error (TS\d+) '(.+)'$/.exec(text);
        return m ? [{ line: i + 1, code: m[1]!, mentions: m[2]! }] : [];
      });
    expect(expected.length).toBeGreaterThanOrEqual(8);
    // Exactly one diagnostic per marked line, none elsewhere (the correct calls compile).
    expect(stepDiagnostics.map((d) => d.line)).toEqual(expected.map((e) => e.line));
    for (const e of expected) {
      const d = stepDiagnostics.find((x) => x.line === e.line)!;
      expect({ line: d.line, code: d.code, mentions: d.message.includes(e.mentions) }, d.message).toEqual({ line: e.line, code: e.code, mentions: true });
    }
  });

  it("compiles the README's example as it is written there", () => {
    expect(compile({ [README_EXAMPLE]: readmeExample() }).map(describeDiagnostic)).toEqual([]);
  });

  it("compiles the repository README's frontend example as it is written there", () => {
    expect(compile({ [README_EXAMPLE]: readmeExample('../../../README.md') }).map(describeDiagnostic)).toEqual([]);
  });
});
