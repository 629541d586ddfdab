/** The in-memory spaces registry passes the same contract as the S3 adapter. */
import { spacesRegistryContract } from '../support/contracts/spaces-registry';
import { InMemorySpacesRegistry } from '../support/fakes/rollout';

spacesRegistryContract('InMemorySpacesRegistry', () => ({ registry: new InMemorySpacesRegistry() }));
