import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * One X-Ray tracer per process. In Lambda (active tracing on every function, see
 * infra/constructs/lookalike-function.ts) it records a subsegment per handler invocation with the
 * ColdStart and Service annotations, and one per AWS SDK call (DynamoDB, S3) with its operation,
 * table or bucket, retries and errors (platform/clients.ts instruments the clients). Outside Lambda
 * (npm start, the in-process twin) Powertools turns it off by itself; the artefact tier runs the
 * bundles with tracing on, against a local collector.
 */
export const tracer = new Tracer({ captureHTTPsRequests: false });

/**
 * Runs one invocation in its own `## handler` subsegment: cold start and service annotated, an
 * error recorded (and rethrown), the segment restored afterwards. A pass-through when tracing is off.
 */
export async function traced<T>(run: () => Promise<T>): Promise<T> {
  if (!tracer.isTracingEnabled()) return run();
  const parent = tracer.getSegment();
  const subsegment = parent?.addNewSubsegment(`## ${process.env._HANDLER ?? 'handler'}`);
  if (subsegment) tracer.setSegment(subsegment);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  try {
    return await run();
  } catch (error) {
    tracer.addErrorAsMetadata(error as Error);
    throw error;
  } finally {
    subsegment?.close();
    if (parent) tracer.setSegment(parent);
  }
}
