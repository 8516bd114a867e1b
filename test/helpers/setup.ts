// aws-local-stepfunctions needs Promise.withResolvers (Node >= 22); the
// development machines run Node 20. Lambda runs nodejs22.x, which has it.
import '../../local/polyfills.ts';
import { installContractRecorder } from './contract-recorder.ts';

// Every API response a test receives must match the OpenAPI document.
installContractRecorder();
