import { execFileSync } from 'node:child_process';

/** The dashboard's chart library is copied from node_modules by the build; tests run from src/, so copy it there first. */
export default function vendorDashboard(): void {
  execFileSync(process.execPath, ['scripts/build-dashboard.mjs'], { stdio: 'inherit' });
}
