/**
 * JPush simulator: a loopback HTTP server speaking JPush's Push, Report and
 * Device APIs on one port, plus local controls of its phones
 * (`/local/devices`) and faults (`/local/jpush/faults`).
 */
export { ApiError } from './api-error.ts';
export { callFamilyOf, DEFAULT_FAULTS } from './faults.ts';
export {
  beijingDate,
  MAX_DEVICES_PER_ALIAS,
  OFFLINE_QUEUE_LIMIT,
  SimulatorModel,
  SimulatorValidationError,
} from './model.ts';
export { validatePush } from './push-object.ts';
export {
  createJPushSimulatorHandler,
  DEFAULT_APP_KEY,
  DEFAULT_MASTER_SECRET,
  type JPushSimulator,
  startJPushSimulator,
} from './server.ts';
export type {
  ApiFamily,
  CallFamily,
  FaultKind,
  Faults,
  FaultsUpdate,
  LoggedRequest,
  ReceivedPush,
  ScriptedFault,
  SimDeviceSettings,
  SimDeviceState,
  SimulatorOptions,
} from './types.ts';
