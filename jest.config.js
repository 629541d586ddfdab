// One jest project per test tier; `npm test` runs them all, `npm run test:<tier>` one.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };
const ignored = ['<rootDir>/layers/runtime/nodejs/', '<rootDir>/cdk.out/', '<rootDir>/.cache/'];
const tier = (name, extra = {}) => ({
  displayName: name,
  testEnvironment: '<rootDir>/test/support/node-environment.js',
  transform,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  modulePathIgnorePatterns: ignored,
  ...extra,
});

module.exports = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  projects: [
    tier('unit'),
    tier('model', { testTimeout: 120_000 }),
    tier('infra', { testTimeout: 120_000 }),
    tier('integration', { testTimeout: 120_000 }),
    tier('artefact', { testTimeout: 240_000 }),
    tier('e2e', { testTimeout: 180_000 }),
  ],
};
