import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Node 20 cannot run TypeScript, and a child process cannot import through vitest. So the
 * module graph under `entry` (relative imports only: the store uses nothing but node:*) is
 * transpiled file by file into a temp dir with the same layout; NodeNext `.js` specifiers then
 * resolve as they are. Type-only imports vanish (verbatimModuleSyntax). Returns the entry's
 * file URL and a cleanup.
 */
export async function transpileForChild(entry: string): Promise<{ url: string; cleanup: () => Promise<void> }> {
  const out = await mkdtemp(join(tmpdir(), 'tsnet-kvbuild-'));
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  const done = new Set<string>();
  const pending = [resolve(REPO, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const source = await readFile(file, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = join(out, relative(REPO, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
    for (const [, spec] of outputText.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      pending.push(resolve(dirname(file), (spec as string).replace(/\.js$/, '.ts')));
    }
  }
  return {
    url: pathToFileURL(join(out, relative(REPO, resolve(REPO, entry)).replace(/\.ts$/, '.js'))).href,
    cleanup: () => rm(out, { recursive: true, force: true }),
  };
}
