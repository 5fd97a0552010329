#!/usr/bin/env node
// The dashboard's chart library comes from npm, not a CDN: this copies uPlot's browser build from node_modules into
// src/dashboard/vendor/ (not committed), and with --dist copies the whole page into dist/dashboard/ next to the
// compiled server, which serves it from there. `npm run build` runs it with --dist; the tests run it without.
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'src', 'dashboard');
const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

mkdirSync(join(page, 'vendor'), { recursive: true });
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) cpSync(join(uplot, file), join(page, 'vendor', file));
if (process.argv.includes('--dist')) cpSync(page, join(root, 'dist', 'dashboard'), { recursive: true });
