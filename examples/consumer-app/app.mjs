// A backend team's own CDK app that embeds guaranteed push delivery: plain
// Node ESM, no TypeScript toolchain, no esbuild (the package ships its Lambda
// code prebuilt). The tables and secrets live in a data stack of their own,
// with termination protection; the rest in a service stack that can be
// replaced freely.
import { App, CfnOutput, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import {
  GuaranteedPushDelivery,
  OUTCOME_EVENT_SOURCE,
  PushDeliveryData,
} from 'jpush-guaranteed-delivery';

const app = new App();
const env = {
  account: process.env.CDK_DEFAULT_ACCOUNT,
  region: process.env.CDK_DEFAULT_REGION,
};

const dataStack = new Stack(app, 'ShopPushData', {
  env,
  terminationProtection: true,
});
const data = new PushDeliveryData(dataStack, 'PushData');

const serviceStack = new Stack(app, 'ShopPush', { env });
const push = new GuaranteedPushDelivery(serviceStack, 'Push', {
  data,
  stage: 'prod',
  // The 555-01xx range is reserved for fiction: put the on-call numbers here.
  onCallPhoneNumbers: ['+15555550100'],
  sms: { dailyCap: 500 },
  api: { ackRequiresDevice: true },
});

new CfnOutput(serviceStack, 'ApiUrl', { value: push.api.apiEndpoint });
new CfnOutput(serviceStack, 'OutcomeEventBusArn', {
  value: push.bus.eventBusArn,
  description: `Subscribe with a rule on source "${OUTCOME_EVENT_SOURCE}".`,
});

// Every synth is checked: cdk-nag's AwsSolutions and Serverless packs.
Validations.of(app).addPlugins(
  new AwsSolutionsChecks(app),
  new ServerlessChecks(app)
);
app.synth();
