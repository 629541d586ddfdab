import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface ObservabilityProps {
  readonly functions: Record<string, IFunction>;
  readonly deadLetterQueues: Record<string, IQueue>;
  readonly api: HttpApi;
  /** Each gets an alarm on failed (or timed-out) executions. @default none */
  readonly stateMachines?: Record<string, IStateMachine>;
  /** Where alarms notify. @default the topic made by `createAlarmTopic`, or none */
  readonly alarmTopic?: ITopic;
  /** Create an SNS topic for the alarms when none is given. @default false */
  readonly createAlarmTopic?: boolean;
  /** p99 latency above this (ms) for 3 of 5 minutes alarms. @default 1000 */
  readonly apiLatencyP99Ms?: number;
}

/** The alarms an operator needs: anything dead-lettered, function errors and throttles, API 5xx and slowness. */
export class Observability extends Construct {
  public readonly alarms: Alarm[] = [];
  public readonly topic?: ITopic;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.topic =
      props.alarmTopic ??
      (props.createAlarmTopic
        ? new Topic(this, 'Alarms', { enforceSSL: true, displayName: 'Lookalike alarms' })
        : undefined);
    const action: IAlarmAction | undefined = this.topic ? new SnsAction(this.topic) : undefined;
    const add = (alarm: Alarm) => {
      if (action) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.alarms.push(alarm);
    };

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      add(
        new Alarm(this, `${name}DeadLetters`, {
          alarmDescription: `Messages in the ${name} dead-letter queue: uploads that could not be processed after every retry`,
          metric: queue.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(1),
            statistic: 'Maximum',
          }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      add(
        new Alarm(this, `${name}Errors`, {
          alarmDescription: `${name} function errors`,
          metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new Alarm(this, `${name}Throttles`, {
          alarmDescription: `${name} function throttles`,
          metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const [name, stateMachine] of Object.entries(props.stateMachines ?? {})) {
      add(
        new Alarm(this, `${name}FailedExecutions`, {
          alarmDescription: `${name} executions that failed or timed out (an operator's abort is not alarmed): see the execution's map run and its results in S3`,
          metric: new MathExpression({
            expression: 'failed + timedOut',
            usingMetrics: {
              failed: stateMachine.metricFailed({ statistic: 'Sum' }),
              timedOut: stateMachine.metricTimedOut({ statistic: 'Sum' }),
            },
            period: Duration.minutes(5),
            label: `${name} failed executions`,
          }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    const apiMetric = (metricName: string, statistic: string) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.api.apiId },
        period: Duration.minutes(1),
        statistic,
      });
    add(
      new Alarm(this, 'Api5xx', {
        alarmDescription: 'The API answers 5xx',
        metric: apiMetric('5xx', 'Sum'),
        threshold: 5,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new Alarm(this, 'ApiLatencyP99', {
        alarmDescription: 'API p99 latency is high',
        metric: apiMetric('Latency', 'p99'),
        threshold: props.apiLatencyP99Ms ?? 1000,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
