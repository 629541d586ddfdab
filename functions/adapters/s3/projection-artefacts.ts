import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ProjectionArtefacts } from '../../app/ports';
import { projectionArtefactKey } from '../../contract/storage';
import type { ProjectionArtefact } from '../../domain/learned-space';
import { isConditionFailure, isMissing } from './s3-errors';

/**
 * Projection artefacts as JSON objects in the catalogue bucket (`index/<space>.projection.json`),
 * created with `If-None-Match: *`: an artefact, once written, is never replaced.
 */
export class S3ProjectionArtefacts implements ProjectionArtefacts {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async putIfAbsent(artefact: ProjectionArtefact): Promise<boolean> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: projectionArtefactKey(artefact.space),
          Body: JSON.stringify(artefact),
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async get(space: string): Promise<ProjectionArtefact | undefined> {
    try {
      const object = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: projectionArtefactKey(space) }),
      );
      return JSON.parse((await object.Body?.transformToString()) ?? 'null') as ProjectionArtefact;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }
}
