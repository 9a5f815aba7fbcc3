/**
 * Tells a call's handler when its reply has reached Docker's socket. The API layer passes one
 * to every creating call; a reply that fails, times out or never leaves the daemon never fires
 * it, so what such a call recorded can be told apart from what Docker saw answered. Without one
 * (unit tests, tools) a call counts as answered as soon as it returns.
 */
export interface ReplyWatch {
  onDelivered(listener: () => void): void;
}
