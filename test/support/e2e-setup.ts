import { beforeAll } from 'vitest';
import { describeDockerUnderTest } from './dockerd.js';

// Setup file of the e2e project (vitest.config.ts): runs in every e2e test file, so the output
// of each file says which dockerd it ran against (TSNET_E2E_DOCKER, see dockerd.ts).
const banner = describeDockerUnderTest();
beforeAll(() => {
  console.log(banner);
});
