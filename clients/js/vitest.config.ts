import { defineConfig } from 'vitest/config';

// Node environment (no DOM): the hooks run in react-test-renderer. The stack tests talk to a real
// gateway (see test/support.ts), so their time limits are generous; they are deadlines, not asserts.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
