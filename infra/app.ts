import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { getConfig } from './config.ts';
import { DataStack } from './stacks/data-stack.ts';

/**
 * Builds the CDK app for one stage with cdk-nag's AwsSolutions and Serverless
 * packs attached, so every synth is checked.
 * @param app the app to build in (tests pass their own)
 */
export const buildApp = (app: App = new App()) => {
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  const config = getConfig(stage, (key) => app.node.tryGetContext(key));
  const data = new DataStack(app, `PushDelivery-Data-${stage}`, {
    env: config.env,
    config,
  });
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ServerlessChecks(app)
  );
  return { app, config, data };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
