import { defineConfig } from 'vitest/config';

// Three depths of test (see README "Testing"): unit tests are pure and parallel; integration
// tests touch the real kernel inside namespaces they create; e2e tests drive a real dockerd and
// share host-wide resources (iptables, /run/docker/plugins), so they run one file at a time;
// `npm test` runs the e2e project once per dockerd version (TSNET_E2E_DOCKER, README "Testing").
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'plugin-spec/**/*.test.ts', 'kvstore/**/*.test.ts'],
          testTimeout: 10_000,
          // A test that never calls expect() fails instead of passing by doing nothing.
          expect: { requireAssertions: true },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          expect: { requireAssertions: true },
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Prints the dockerd under test (TSNET_E2E_DOCKER=20.10|28.5) in each file's output.
          setupFiles: ['test/support/e2e-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
