// A local Serverless plugin (listed after serverless-esbuild in serverless.yml): removes the staging
// folders serverless-esbuild leaves in the system temp directory.
//
// Why: serverless-esbuild (1.57.2) zips each function from a folder
// `<os.tmpdir()>/<function key>-<pid>-<epoch ms>-<8 hex>` that it means to delete afterwards, but its
// delete (`FileSystem.remove` without `recursive`, errors ignored: dist/utils/effect-fs.js) cannot
// remove a non-empty folder, so every package left one 5-7 MB folder per function. The plugin has no
// option for this (its temp path is always os.tmpdir()). Only folders of THIS process (its pid) and
// of this service's functions are removed: other runs' folders are not ours to touch.

const { readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

/** The staging folders serverless-esbuild made for `functionKeys` in process `pid`, under `dir`. */
function esbuildStagingFolders(functionKeys, pid = process.pid, dir = tmpdir()) {
  const keys = new Set(functionKeys);
  const pattern = new RegExp(`^(.+)-${pid}-\\d+-[0-9a-f]{8}$`);
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory())
    .filter((e) => {
      const match = pattern.exec(e.name);
      return match !== null && keys.has(match[1]);
    })
    .map((e) => join(dir, e.name));
}

class EsbuildTmpCleanup {
  constructor(serverless) {
    const cleanUp = () => {
      for (const folder of esbuildStagingFolders(serverless.service.getAllFunctions())) rmSync(folder, { recursive: true, force: true });
    };
    this.hooks = {
      'after:package:finalize': cleanUp,
      'after:deploy:function:packageFunction': cleanUp,
    };
    // A package that fails after zipping started leaves the folders too: clean up when the process ends.
    process.once('exit', () => {
      try {
        cleanUp();
      } catch {
        // best effort on the way out
      }
    });
  }
}

module.exports = EsbuildTmpCleanup;
module.exports.esbuildStagingFolders = esbuildStagingFolders;
