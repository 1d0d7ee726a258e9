/** Options of `init()` (the <script> snippet reads the same from data- attributes). */
export interface LiveInsightOptions {
  /** The LiveInsight API base, e.g. "https://abc123.execute-api.us-east-1.amazonaws.com/prod". */
  api: string;
  /** The site id configured in LiveInsight; the default site when omitted. */
  site?: string;
  /** Count hash routes (#/pricing) as pages. Default false. */
  hash?: boolean;
  /** Track clicks on links to other hosts as `outbound_click` events. Default false. */
  outbound?: boolean;
  /** Keep a random visitor id in localStorage (otherwise the server's cookieless id is used). */
  anonymousId?: boolean;
  /** Send nothing when the browser's Do Not Track is on. Default false. */
  respectDnt?: boolean;
  /** Send a page view on start. Default true. */
  auto?: boolean;
}

export type PropertyValue = string | number | boolean | null;

/** Money an event brought in; reported per goal in the goal's currency, never converted. */
export interface Revenue {
  /** A number or decimal text ("19.90" stays exact) below 10^14, negative for a refund. */
  amount: number | string;
  /** An ISO 4217 code in capitals: "EUR", "USD". */
  currency: string;
}

export interface TrackOptions {
  /** Left off (the event is still sent) unless it is as described: the server would refuse the event. */
  revenue?: Revenue;
}

export interface LiveInsight {
  /** A custom event: a name of letters, digits, "_", "-", "." and up to 30 flat properties. */
  track(name: string, properties?: Record<string, PropertyValue> | null, options?: TrackOptions): void;
  /** Attach later events to your own user id (null to forget it). */
  identify(userId: string | null): void;
  /** Stop sending, persistently (localStorage), and drop anything queued. */
  optOut(): void;
  /** Undo optOut(). */
  optIn(): void;
  /** Record a page view now (automatic on load and single-page-app navigation). */
  pageview(): void;
  /** Send what is batched now instead of on the next timer tick. */
  flush(): void;
}

export function init(options: LiveInsightOptions): LiveInsight;

declare global {
  interface Window {
    liveinsight: LiveInsight;
  }
}
