/**
 * Hands a downloaded Blob to the browser as a file: an object URL on a temporary
 * `<a download>`, clicked, then removed; the URL is revoked a little later (revoking it in the
 * same task can cancel the download in some browsers), which frees the Blob.
 */
export const REVOKE_AFTER_MS = 10_000;

export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  try {
    a.click();
  } finally {
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
  }
}
