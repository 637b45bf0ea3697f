// W1 for imapflow: connect, log in, fetch the same fields for the given UIDs, log out.
// Prints {"ms": work time inside this process, "count": messages}.
import { ImapFlow } from 'imapflow';
import { readFileSync } from 'node:fs';

const [host, port, user, pass, caFile, uidRange] = process.argv.slice(2);
const started = performance.now();
const client = new ImapFlow({
  host, port: Number(port), secure: true, auth: { user, pass }, logger: false,
  tls: { ca: [readFileSync(caFile)] },
});
await client.connect();
const lock = await client.getMailboxLock('INBOX', { readOnly: true });
let count = 0;
try {
  for await (const msg of client.fetch(uidRange, { uid: true, flags: true, size: true,
                                                 internalDate: true, envelope: true },
                                       { uid: true })) {
    if (msg.envelope) count += 1;
  }
} finally {
  lock.release();
}
await client.logout();
console.log(JSON.stringify({ ms: performance.now() - started, count }));
