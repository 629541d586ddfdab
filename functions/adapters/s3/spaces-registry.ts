import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { emptySpaces, type SpacesRegistry, type SpacesState, type VersionedSpaces } from '../../app/rollout';
import { SPACES_REGISTRY_KEY } from '../../contract/storage';
import { isConditionFailure, isMissing } from './s3-errors';

/**
 * The spaces registry as one S3 object in the catalogue bucket (SPACES_REGISTRY_KEY), replaced only
 * if its ETag is still the one read: two operators switching at once cannot both win.
 */
export class S3SpacesRegistry implements SpacesRegistry {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key = SPACES_REGISTRY_KEY,
  ) {}

  async read(): Promise<VersionedSpaces> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      const stored = JSON.parse((await object.Body?.transformToString()) ?? '{}') as Partial<SpacesState>;
      return {
        state: { ...emptySpaces(), ...stored },
        ...(object.ETag ? { version: object.ETag } : {}),
      };
    } catch (error) {
      // Only a 404 means "nothing recorded yet"; a 403 is a missing grant and must surface.
      if (isMissing(error)) return { state: emptySpaces() };
      throw error;
    }
  }

  async write(state: SpacesState, expected: string | undefined): Promise<boolean> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key,
          Body: JSON.stringify(state),
          ContentType: 'application/json',
          ...(expected ? { IfMatch: expected } : { IfNoneMatch: '*' }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
