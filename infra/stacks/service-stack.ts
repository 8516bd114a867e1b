import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config.ts';
import { GuaranteedPushDelivery } from '../constructs/guaranteed-push-delivery.ts';
import type { DataStack } from './data-stack.ts';

/** Props of {@link ServiceStack}. */
export interface ServiceStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The tables and secrets. */
  readonly data: DataStack;
}

/**
 * The stateless half: {@link GuaranteedPushDelivery} on the data stack's
 * tables and secrets, with the id `Default`, which CDK leaves out of
 * logical ids (the resources keep the ids they had before the construct
 * existed), and the stack's outputs.
 */
export class ServiceStack extends Stack {
  public readonly delivery: GuaranteedPushDelivery;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    const { eventBusArn, includeContent } = config.events;
    this.delivery = new GuaranteedPushDelivery(this, 'Default', {
      ...config,
      data: data.data,
      events: {
        includeContent,
        ...(eventBusArn
          ? {
              eventBus: EventBus.fromEventBusArn(
                this,
                'OutcomeEventBus',
                eventBusArn
              ),
            }
          : {}),
      },
    });
    const { delivery } = this;
    new CfnOutput(this, 'ApiUrl', { value: delivery.api.apiEndpoint });
    new CfnOutput(this, 'StateMachineArn', {
      value: delivery.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'OnCallTopicArn', {
      value: delivery.onCallTopic.topicArn,
    });
    new CfnOutput(this, 'OpsTopicArn', { value: delivery.opsTopic.topicArn });
    new CfnOutput(this, 'OutcomeEventBusArn', {
      value: delivery.eventBus.eventBusArn,
    });
    new CfnOutput(this, 'MessagesTableName', {
      value: data.data.messages.tableName,
    });
  }
}
