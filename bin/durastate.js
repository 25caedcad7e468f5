#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

// A reader that stops early (`durastate history <id> | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await main(process.argv);
