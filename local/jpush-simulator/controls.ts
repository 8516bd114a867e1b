/**
 * The simulator's local controls, without auth and outside the request log:
 * `GET /local/devices`, `GET|PUT /local/devices/{rid}`,
 * `GET|PUT|DELETE /local/jpush/faults` and `PUT /local/jpush/master-secret`.
 */
import { z } from 'zod';
import { parseFaultsUpdate } from './faults.ts';
import { type Reply, validationBody } from './http.ts';
import { type SimulatorModel, SimulatorValidationError } from './model.ts';
import type { Faults, FaultsUpdate } from './types.ts';

/** Body of `PUT /local/devices/{rid}`. */
const DeviceSettingsSchema = z.strictObject({
  online: z.boolean().optional(),
  autoAck: z.boolean().optional(),
  ackDelayMs: z.number().int().min(0).max(3_600_000).optional(),
  dropRate: z.number().min(0).max(1).optional(),
  platform: z.enum(['android', 'ios']).optional(),
  extension: z.boolean().optional(),
  vendorChannel: z.boolean().optional(),
});

const json = (status: number, value: unknown): Reply => ({
  status,
  body: value,
});

const notAllowed = (method: string, path: string): Reply =>
  json(405, {
    error: { code: 'MethodNotAllowed', message: `${method} ${path}` },
  });

/** Body of `PUT /local/jpush/master-secret`. */
const MasterSecretSchema = z.strictObject({ masterSecret: z.string() });

/** The longest master secret the simulator takes. */
const MAX_MASTER_SECRET_CHARS = 200;

/**
 * What is wrong with a master secret (never its value), or undefined.
 * JPush's own are 24 letters and digits; any other non-blank text is taken.
 */
export const masterSecretProblem = (secret: unknown): string | undefined => {
  if (typeof secret !== 'string' || secret.trim() === '') {
    return 'masterSecret must be a non-empty string';
  }
  if (secret !== secret.trim()) {
    return 'masterSecret must not start or end with a space (JPush refuses such a key)';
  }
  if (secret.length > MAX_MASTER_SECRET_CHARS) {
    return `masterSecret must be at most ${MAX_MASTER_SECRET_CHARS} characters`;
  }
  return undefined;
};

/** Methods of `/local/jpush/faults`. */
const FAULTS_ALLOW = 'GET, PUT, DELETE';

/** What the controls act on. */
export interface ControlsOptions {
  model: SimulatorModel;
  /** Rotates the master secret; throws SimulatorValidationError. */
  setMasterSecret: (masterSecret: string) => void;
  faults: {
    /** The faults in force. */
    get(): Faults;
    /** Lays a checked change over them; returns the result. */
    set(update: FaultsUpdate): Faults;
    /** Back to the settings at start; returns them. */
    reset(): Faults;
  };
}

/**
 * Build the handler of `/local/*` requests.
 * @param options see {@link ControlsOptions}
 * @returns a function answering a request (path without query or trailing
 *   slash, upper-case method, body text)
 */
export const createControls = ({
  model,
  faults,
  setMasterSecret,
}: ControlsOptions) => {
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

  const faultSettings = (method: string, path: string, body: string): Reply => {
    if (method === 'GET') return json(200, faults.get());
    if (method === 'DELETE') return json(200, faults.reset());
    if (method !== 'PUT') {
      return {
        status: 405,
        body: {
          error: {
            code: 'MethodNotAllowed',
            message: `${method} is not allowed on ${path}; use ${FAULTS_ALLOW}.`,
          },
        },
        headers: { allow: FAULTS_ALLOW },
      };
    }
    let raw: unknown = {};
    if (body.trim() !== '') {
      try {
        raw = JSON.parse(body);
      } catch {
        return json(
          400,
          validationBody(
            'The body is not valid JSON; send an object such as {"lostResponseRate": 0.05}'
          )
        );
      }
    }
    const parsed = parseFaultsUpdate(raw);
    if (!parsed.ok) return json(400, validationBody(parsed.message));
    return json(200, faults.set(parsed.update));
  };

  /** `PUT /local/jpush/master-secret`: JPush's "reset master secret". */
  const masterSecret = (method: string, path: string, body: string): Reply => {
    if (method !== 'PUT') {
      return {
        status: 405,
        body: {
          error: {
            code: 'MethodNotAllowed',
            message: `${method} is not allowed on ${path}; use PUT (the secret is never shown).`,
          },
        },
        headers: { allow: 'PUT' },
      };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      return json(
        400,
        validationBody(
          'The body is not valid JSON; send {"masterSecret": "<the new secret>"}'
        )
      );
    }
    const parsed = MasterSecretSchema.safeParse(raw);
    if (!parsed.success) {
      return json(
        400,
        validationBody('Send exactly {"masterSecret": "<the new secret>"}')
      );
    }
    try {
      setMasterSecret(parsed.data.masterSecret);
    } catch (error) {
      if (error instanceof SimulatorValidationError) {
        return json(400, validationBody(error.message));
      }
      throw error;
    }
    // The secret is not echoed.
    return json(200, { rotated: true });
  };

  return (method: string, path: string, body: string): Reply => {
    if (path === '/local/jpush/faults') {
      return faultSettings(method, path, body);
    }
    if (path === '/local/jpush/master-secret') {
      return masterSecret(method, path, body);
    }
    return devices(method, path, body);
  };
};

const notFound = (method: string, path: string): Reply =>
  json(404, {
    error: { code: 'NotFound', message: `No route ${method} ${path}` },
  });
