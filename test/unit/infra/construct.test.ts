import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from '../../../functions/shared/names.ts';
import {
  GuaranteedPushDelivery,
  type GuaranteedPushDeliveryProps,
} from '../../../infra/index.ts';

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** One stack holding the construct, synthesized without bundling. */
const embed = (props: (stack: Stack) => GuaranteedPushDeliveryProps) => {
  const outdir = mkdtempSync(join(tmpdir(), 'construct-test-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': false,
    },
  });
  const stack = new Stack(app, 'TeamStack', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const push = new GuaranteedPushDelivery(stack, 'Push', props(stack));
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ServerlessChecks(app)
  );
  app.synth();
  const report = join(outdir, 'validation-report.json');
  const findings = existsSync(report)
    ? (
        JSON.parse(readFileSync(report, 'utf8')) as {
          pluginReports: {
            violations: {
              ruleName: string;
              violatingConstructs: { constructPath: string }[];
            }[];
          }[];
        }
      ).pluginReports.flatMap((p) =>
        p.violations.flatMap((v) =>
          v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)
        )
      )
    : [];
  return { push, template: Template.fromStack(stack), findings };
};

describe('GuaranteedPushDelivery embedded in a team stack', () => {
  it('makes its own data in the same stack when given none, and passes cdk-nag with its defaults', () => {
    // Act
    const { push, template, findings } = embed(() => ({}));

    // Assess
    expect(findings).toEqual([]);
    template.resourceCountIs('AWS::DynamoDB::Table', 8);
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'PushDelivery-dev',
    });
    // Kept when they leave the stack, unless told otherwise.
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
    });
    expect(Object.keys(push.tables).sort()).toEqual([
      'devices',
      'history',
      'messages',
      'offline',
      'pacing',
      'sessions',
      'smsLimits',
      'withdrawals',
    ]);
    expect(push.topic).toBe(push.onCallTopic);
    expect(push.bus).toBe(push.eventBus);
  });

  it('puts the events on a bus it is given and pages through a topic and key it is given, making none of its own', () => {
    // Prepare
    const busArn = 'arn:aws:events:eu-west-1:123456789012:event-bus/team';
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:team-pager';
    const keyArn =
      'arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-4000-8000-000000000000';

    // Act
    const { template } = embed((stack) => ({
      stage: 'team',
      events: {
        eventBus: EventBus.fromEventBusArn(stack, 'TeamBus', busArn),
      },
      onCallTopic: Topic.fromTopicArn(stack, 'TeamPager', topicArn),
      onCallTopicKey: Key.fromKeyArn(stack, 'TeamPagerKey', keyArn),
    }));
    const json = JSON.stringify(template.toJSON());

    // Assess
    template.resourceCountIs('AWS::Events::EventBus', 0);
    // Only the ops topic, with its own key.
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { [ENV.eventBusName]: busArn },
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { [ENV.onCallTopicArn]: topicArn },
      },
    });
    expect(json).toContain(keyArn);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'PushDelivery-team',
    });
  });

  it('refuses an on-call number that is not E.164, naming it', () => {
    expect(() =>
      embed(() => ({ onCallPhoneNumbers: ['13800000000'] }))
    ).toThrow('onCallPhoneNumbers: "13800000000" is not an E.164 number');
  });
});
