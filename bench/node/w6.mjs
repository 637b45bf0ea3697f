// W6 for imapflow: one cold step (connect, log in, the step, log out) through the given port.
// Prints {"ms": work time inside this process}.
import { ImapFlow } from 'imapflow';
import { readFileSync } from 'node:fs';

const [host, port, user, pass, caFile, step, uid] = process.argv.slice(2);
const started = performance.now();
const client = new ImapFlow({
  host, port: Number(port), secure: true, auth: { user, pass }, logger: false,
  tls: { ca: [readFileSync(caFile)] },
});
await client.connect();
if (step === 'getStatus') {
  await client.status('INBOX', { messages: true, unseen: true, uidNext: true, uidValidity: true });
} else {
  const lock = await client.getMailboxLock('INBOX', { readOnly: true });
  try {
    if (step === 'searchMailbox') {
      const uids = await client.search({ all: true }, { uid: true });
      const last = uids.slice(-10).join(',');
      for await (const msg of client.fetch(last, { uid: true, flags: true, size: true,
                                                    internalDate: true, envelope: true },
                                           { uid: true })) { void msg; }
    } else {
      await client.fetchOne(uid, { source: true }, { uid: true });
    }
  } finally {
    lock.release();
  }
}
await client.logout();
console.log(JSON.stringify({ ms: performance.now() - started }));
