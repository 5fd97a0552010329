#!/usr/bin/env node
import '../dist/tools/migrate-data.js';
