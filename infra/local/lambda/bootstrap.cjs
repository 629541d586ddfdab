// The Lambda Node.js runtime's part of a local function process: load the bundled handler from the
// task root once (the cold init, timed), then run one invocation at a time for the parent over IPC.
'use strict';
const path = require('node:path');

const taskRoot = process.env.LAMBDA_TASK_ROOT;
const [file, name] = (process.env._HANDLER || 'index.handler').split('.');
process.chdir(taskRoot);
const started = performance.now();
let handler;
try {
  handler = require(path.join(taskRoot, file))[name];
  if (typeof handler !== 'function') throw new Error(`${process.env._HANDLER} is not a function`);
} catch (error) {
  process.send({
    type: 'init_error',
    error: { name: error.name, message: error.message, stack: error.stack },
  });
  process.exit(1);
}
process.send({ type: 'ready', initMs: performance.now() - started, node: process.version });

process.on('message', async (message) => {
  if (message.type !== 'invoke') return;
  const deadline = Date.now() + message.timeoutMs;
  // As the Node runtime does for each invocation of a function with active tracing.
  process.env._X_AMZN_TRACE_ID = message.traceId;
  const context = {
    ...message.context,
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  const invokeStarted = performance.now();
  try {
    const result = await handler(message.event, context);
    process.send({ type: 'result', id: message.id, result, durationMs: performance.now() - invokeStarted });
  } catch (error) {
    process.send({
      type: 'error',
      id: message.id,
      error: { name: error?.name, message: error?.message, stack: error?.stack },
      durationMs: performance.now() - invokeStarted,
    });
  }
});
