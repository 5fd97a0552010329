#!/usr/bin/env -S node --max-semi-space-size=4
// The flag: a young generation of 4 MB per semi-space instead of 16 MB keeps peak memory under load lower at the
// same throughput (bench, docs/performance.md#memory). `env -S` passes it on; NODE_OPTIONS may add more.
import '../dist/main.js';
