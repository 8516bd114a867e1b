import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config.ts';
import { PushDeliveryData } from '../constructs/push-delivery-data.ts';

/** Props of {@link DataStack}. */
export interface DataStackProps extends StackProps {
  /** The stage's settings. */
  readonly config: EnvironmentConfig;
}

/**
 * The stateful half, with termination protection: {@link PushDeliveryData}
 * (its tables and secrets), with the id `Default`, which CDK leaves out of
 * logical ids: the tables keep the ids they had before the construct
 * existed.
 */
export class DataStack extends Stack {
  /** The tables and secrets. */
  public readonly data: PushDeliveryData;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, { ...props, terminationProtection: true });
    this.data = new PushDeliveryData(this, 'Default', {
      removalPolicy: props.config.removalPolicy,
    });
  }
}
