import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { getConfig } from './config.ts';
import { DataStack } from './stacks/data-stack.ts';
import { ServiceStack } from './stacks/service-stack.ts';

const CROSS_STACK_REFERENCES = '@aws-cdk/core:defaultCrossStackReferences';

/**
 * Builds the CDK app for one stage with cdk-nag's AwsSolutions and Serverless
 * packs attached, so every synth is checked.
 * @param app the app to build in (tests pass their own)
 */
export const buildApp = (app: App = new App()) => {
  if (app.node.tryGetContext(CROSS_STACK_REFERENCES) === undefined) {
    app.node.setContext(CROSS_STACK_REFERENCES, 'strong');
  }
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  const config = getConfig(stage, (key) => app.node.tryGetContext(key));
  const data = new DataStack(app, `PushDelivery-Data-${stage}`, {
    env: config.env,
    config,
  });
  const service = new ServiceStack(app, `PushDelivery-Service-${stage}`, {
    env: config.env,
    config,
    data,
  });
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ServerlessChecks(app)
  );
  return { app, config, data, service };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
