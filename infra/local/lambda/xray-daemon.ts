/**
 * The X-Ray daemon's local twin: Lambda gives each function AWS_XRAY_DAEMON_ADDRESS, and the X-Ray
 * SDK sends every finished (sub)segment there as one UDP datagram, a JSON header line then the
 * document. This collects them, so a test can read what a deployed bundle traced.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface TraceDocument {
  id: string;
  name: string;
  trace_id: string;
  parent_id?: string;
  type?: string;
  namespace?: string;
  start_time: number;
  end_time?: number;
  fault?: boolean;
  error?: boolean;
  annotations?: Record<string, string | number | boolean>;
  aws?: Record<string, unknown>;
  subsegments?: TraceDocument[];
}

export class XRayCollector {
  readonly documents: TraceDocument[] = [];
  private constructor(
    private readonly socket: Socket,
    readonly address: string,
  ) {}

  static async start(): Promise<XRayCollector> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    const collector = new XRayCollector(socket, `127.0.0.1:${socket.address().port}`);
    socket.on('message', (datagram) => {
      const text = datagram.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      try {
        collector.documents.push(JSON.parse(text.slice(newline + 1)) as TraceDocument);
      } catch {
        // Not a segment document: the daemon would drop it too.
      }
    });
    return collector;
  }

  /** Every document received, with nested subsegments flattened. */
  all(): TraceDocument[] {
    const out: TraceDocument[] = [];
    const visit = (doc: TraceDocument) => {
      out.push(doc);
      for (const child of doc.subsegments ?? []) visit(child);
    };
    for (const doc of this.documents) visit(doc);
    return out;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** An X-Ray trace header as Lambda sets it per invocation (_X_AMZN_TRACE_ID), sampled. */
export function lambdaTraceHeader(): string {
  const hex = (bytes: number) =>
    crypto.getRandomValues(new Uint8Array(bytes)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
  const epoch = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epoch}-${hex(12)};Parent=${hex(8)};Sampled=1`;
}
