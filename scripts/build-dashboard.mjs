#!/usr/bin/env node
// The dashboard's chart library comes from npm, not a CDN: this copies uPlot's browser build from node_modules into
// dashboard/vendor/ (not committed), which the package ships and the server reads. `npm run build` runs it, and so
// do the tests before they start.
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'dashboard');
const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

mkdirSync(join(page, 'vendor'), { recursive: true });
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) cpSync(join(uplot, file), join(page, 'vendor', file));
