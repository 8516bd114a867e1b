/**
 * The simulator's local controls, without auth and outside the request log:
 * `GET /local/devices`, `GET|PUT /local/devices/{rid}`.
 */
import { z } from 'zod';
import { type Reply, validationBody } from './http.ts';
import { type SimulatorModel, SimulatorValidationError } from './model.ts';

/** Body of `PUT /local/devices/{rid}`. */
const DeviceSettingsSchema = z.strictObject({
  online: z.boolean().optional(),
  autoAck: z.boolean().optional(),
  ackDelayMs: z.number().int().min(0).max(3_600_000).optional(),
  dropRate: z.number().min(0).max(1).optional(),
  platform: z.enum(['android', 'ios']).optional(),
});

const json = (status: number, value: unknown): Reply => ({
  status,
  body: value,
});

const notAllowed = (method: string, path: string): Reply =>
  json(405, {
    error: { code: 'MethodNotAllowed', message: `${method} ${path}` },
  });

/** What the controls act on. */
export interface ControlsOptions {
  model: SimulatorModel;
}

/**
 * Build the handler of `/local/*` requests.
 * @param options see {@link ControlsOptions}
 * @returns a function answering a request (path without query or trailing
 *   slash, upper-case method, body text)
 */
export const createControls = ({ model }: ControlsOptions) => {
  const devices = (method: string, path: string, body: string): Reply => {
    if (path === '/local/devices') {
      if (method !== 'GET') return notAllowed(method, path);
      return json(200, model.listDevices());
    }
    const match = /^\/local\/devices\/([^/]+)$/.exec(path);
    if (!match) return notFound(method, path);
    const rid = decodeURIComponent(match[1] ?? '');
    if (method === 'GET') {
      const device = model.getDevice(rid);
      return device
        ? json(200, device)
        : json(404, {
            error: { code: 'NotFound', message: `Unknown device ${rid}` },
          });
    }
    if (method !== 'PUT') return notAllowed(method, path);
    let raw: unknown = {};
    if (body.trim() !== '') {
      try {
        raw = JSON.parse(body);
      } catch {
        return json(400, validationBody('Body is not valid JSON'));
      }
    }
    const parsed = DeviceSettingsSchema.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
        .join('; ');
      return json(400, validationBody(message));
    }
    try {
      return json(200, model.setDevice(rid, parsed.data));
    } catch (error) {
      if (error instanceof SimulatorValidationError) {
        return json(400, validationBody(error.message));
      }
      throw error;
    }
  };

  return (method: string, path: string, body: string): Reply =>
    devices(method, path, body);
};

const notFound = (method: string, path: string): Reply =>
  json(404, {
    error: { code: 'NotFound', message: `No route ${method} ${path}` },
  });
