/**
 * What an S3 error means to the adapters, decided in one place: by the SDK's error name or, for
 * responses without a body (HEAD), by the HTTP status.
 */
const detailsOf = (error: unknown) => {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return { name, status: $metadata?.httpStatusCode };
};

/**
 * No such key (or version). Only a 404 means that: a 403 is a missing grant (or a missing key the
 * role may not list) and must surface.
 */
export function isMissing(error: unknown): boolean {
  const { name, status } = detailsOf(error);
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion' || status === 404;
}

/**
 * A conditional write that did not hold: 412 when the ETag changed (or `If-None-Match: *` found an
 * object); 409 when another conditional write to the key is in flight.
 */
export function isConditionFailure(error: unknown): boolean {
  const { name, status } = detailsOf(error);
  return (
    name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412 || status === 409
  );
}
