/**
 * Whole-file replacement that survives a crash at any point: write a
 * temporary file, fsync it, rename it over the old one, fsync the folder.
 */

export function writeFileAtomicSync(path: string, data: Uint8Array): void {
  const temporary = `${path}.tmp`;
  const file = Deno.openSync(temporary, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < data.byteLength) written += file.writeSync(data.subarray(written));
    file.syncSync();
  } finally {
    file.close();
  }
  Deno.renameSync(temporary, path);
  syncFolderSync(path.slice(0, Math.max(path.lastIndexOf("/"), 1)));
}

/** Makes a rename or create in `folder` durable; best effort where folders cannot be opened. */
export function syncFolderSync(folder: string): void {
  try {
    const handle = Deno.openSync(folder, { read: true });
    try {
      handle.syncSync();
    } finally {
      handle.close();
    }
  } catch {
    // Some platforms refuse to open or fsync folders; the rename is still atomic there.
  }
}
