-- Issue #19: the W3C trace context (`traceparent`) of the request that enqueued a job, so the
-- worker's span of the job joins that request's trace. NULL when tracing is off.
ALTER TABLE jobs ADD COLUMN trace_context TEXT;
