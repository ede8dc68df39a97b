// Reads a PNG/JPEG's C2PA manifest store with @trustnxt/c2pa-ts (an independent,
// pure-TypeScript implementation) and prints its validation result as JSON.
// Usage: node c2pa_ts_read.mjs PACKAGE_DIR FILE  (PACKAGE_DIR holds node_modules/@trustnxt/c2pa-ts)
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const [packageDir, file] = process.argv.slice(2);
const dist = path.join(packageDir, 'node_modules', '@trustnxt', 'c2pa-ts', 'dist');
const load = (part) => import(pathToFileURL(path.join(dist, part, 'index.js')).href);
const { JPEG, PNG } = await load('asset');
const { SuperBox } = await load('jumbf');
const { ManifestStore, ValidationResult } = await load('manifest');

const buf = await fs.readFile(file);
const asset = JPEG.canRead(buf) ? new JPEG(buf) : new PNG(buf);
let result;
try {
  const store = ManifestStore.read(SuperBox.fromBuffer(asset.getManifestJUMBF()));
  result = await store.validate(asset);
} catch (e) {
  result = ValidationResult.fromError(e);
}
console.log(JSON.stringify({ isValid: result.isValid, entries: result.statusEntries }));
