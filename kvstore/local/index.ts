export { openFileKvStore, FileKvStore, type FileKvStoreOptions } from './file-kv-store.js';
