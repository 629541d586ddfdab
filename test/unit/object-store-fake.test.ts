/** The in-memory fake of ingestion's object store passes the same contract as the S3 adapter. */
import { objectStoreContract } from '../support/contracts/object-store';
import { InMemoryObjectStore } from '../support/fakes/object-store';

const MAX_BYTES = 4096;

objectStoreContract('InMemoryObjectStore', () => {
  const store = new InMemoryObjectStore(MAX_BYTES);
  const bucket = 'catalogue-bucket';
  return {
    store,
    bucket,
    maxBytes: MAX_BYTES,
    put: async (key, bytes, metadata) => store.put(bucket, key, bytes, metadata),
    remove: async (key) => store.delete(bucket, key),
  };
});
