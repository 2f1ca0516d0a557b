//! Live HTTP clients for Slack, HubSpot, QuickBooks Online and generic HTTP.
