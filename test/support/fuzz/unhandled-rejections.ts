/**
 * Records unhandled promise rejections of the whole worker process while a test file runs. Jest's
 * sandbox has its own `process` object, whose listeners never hear the event: the listener goes on
 * the host's process, reached through a host-realm function (Jest hands the sandbox the host's Buffer).
 */
export function watchUnhandledRejections(): { readonly reasons: readonly unknown[] } {
  const host = Buffer.constructor('return process')() as NodeJS.Process;
  const reasons: unknown[] = [];
  const record = (reason: unknown) => {
    reasons.push(reason);
  };
  beforeAll(() => {
    host.on('unhandledRejection', record);
  });
  afterAll(() => {
    host.off('unhandledRejection', record);
  });
  return { reasons };
}
