// The Kysely view of the tables. Timestamps are read as ISO 8601 strings (see connect.ts) and
// written as ISO strings or SQL expressions.
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

type Timestamp = ColumnType<string, string | undefined, string>
type NullableTimestamp = ColumnType<string | null, string | null | undefined, string | null>
type TextArray = ColumnType<string[], string[] | undefined, string[]>

export interface UsersTable {
  id: Generated<string>
  sub: string | null
  email: string | null
  status: Generated<'active' | 'pending' | 'disabled'>
  given_name: string | null
  family_name: string | null
  full_name: string | null
  nickname: string | null
  locale: string | null
  email_verified: Generated<boolean>
  phone_number: string | null
  avatar_url: string | null
  title: string | null
  password_hash: string | null
  last_login_at: NullableTimestamp
  login_count: Generated<number>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OrganizationsTable {
  id: Generated<string>
  slug: string
  name: string
  description: string | null
  status: Generated<'active' | 'suspended'>
  default_role: Generated<string>
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OrgRolesTable {
  id: Generated<string>
  org_id: string
  slug: string
  name: string
  description: string | null
  permissions: TextArray
  scopes: TextArray
  is_system: Generated<boolean>
  created_by: string | null
  updated_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OrgGroupsTable {
  id: Generated<string>
  org_id: string
  slug: string
  name: string
  description: string | null
  created_by: string | null
  updated_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export type MembershipStatus = 'active' | 'invited' | 'suspended'
export type JoinedVia = 'direct' | 'invite-code' | 'invite-email' | 'auto-join' | 'join-rule'

export interface OrgMembershipsTable {
  id: Generated<string>
  org_id: string
  user_id: string
  role_slug: string
  status: MembershipStatus
  invited_by: string | null
  invited_at: NullableTimestamp
  invite_email: string | null
  invite_token_hash: string | null
  invite_expires_at: NullableTimestamp
  joined_at: NullableTimestamp
  joined_via: JoinedVia | null
  deactivated_at: NullableTimestamp
  created_by: string | null
  updated_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OrgGroupMembersTable {
  id: Generated<string>
  group_id: string
  org_id: string
  user_id: string
  created_by: string | null
  created_at: Timestamp
}

/** Kept by triggers on org_memberships (migration 0401); the application only reads it. */
export interface OrgMemberCountsTable {
  org_id: string
  shard: number
  members: ColumnType<string | number, never, never>
  /** Memberships inserted plus deleted: the version of the org's list positions. */
  changes: ColumnType<string | number, never, never>
}

export interface OrgApiKeysTable {
  id: Generated<string>
  org_id: string
  slug: string
  name: string
  prefix: string
  secret_hash: string
  permissions: TextArray
  scopes: TextArray
  owner_type: string | null
  owner_id: string | null
  expires_at: NullableTimestamp
  disabled: Generated<boolean>
  last_used_at: NullableTimestamp
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface ApplicationsTable {
  id: Generated<string>
  slug: string
  name: string
  description: string | null
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface ApplicationRolesTable {
  id: Generated<string>
  application_id: string
  slug: string
  name: string
  description: string | null
  permissions: TextArray
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OauthClientsTable {
  id: Generated<string>
  org_id: string
  application_id: string | null
  client_id: string
  secret_hash: string
  name: string
  redirect_uris: TextArray
  grant_types: TextArray
  scopes: TextArray
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface AuditEventsTable {
  id: Generated<string>
  org_id: string | null
  actor_id: string | null
  actor_kind: string
  action: string
  target_type: string | null
  target_id: string | null
  request_id: string | null
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>
  created_at: Timestamp
}

/** Numbers an org's events (migration 0501); the row lock orders its writers. */
export interface OrgEventCountersTable {
  org_id: string
  seq: ColumnType<number, number, never>
}

export interface OrgEventsTable {
  id: Generated<string>
  org_id: string
  org_slug: string
  seq: ColumnType<number, number, never>
  type: string
  actor_type: string
  actor_id: string | null
  data: ColumnType<Record<string, unknown>, string, never>
  created_at: Timestamp
}

export interface WebhooksTable {
  id: Generated<string>
  org_id: string
  url: string
  description: string | null
  event_types: TextArray
  secret: string
  enabled: Generated<boolean>
  disabled_reason: string | null
  failing_since: NullableTimestamp
  dispatched_seq: number
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface WebhookDeliveriesTable {
  id: Generated<string>
  webhook_id: string
  event_id: string | null
  event_type: string
  status: Generated<DeliveryStatus>
  attempts: Generated<number>
  next_attempt_at: NullableTimestamp
  claimed_until: NullableTimestamp
  last_response_code: number | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface WebhookAttemptsTable {
  id: Generated<string>
  delivery_id: string
  started_at: string
  succeeded: boolean
  response_code: number | null
  duration_ms: number
  response_body: string | null
  error: string | null
}

export interface EventSinkCursorsTable {
  sink: string
  org_id: string
  seq: number
  claimed_until: NullableTimestamp
}

export interface Database {
  users: UsersTable
  organizations: OrganizationsTable
  org_roles: OrgRolesTable
  org_groups: OrgGroupsTable
  org_memberships: OrgMembershipsTable
  org_group_members: OrgGroupMembersTable
  org_member_counts: OrgMemberCountsTable
  org_api_keys: OrgApiKeysTable
  applications: ApplicationsTable
  application_roles: ApplicationRolesTable
  oauth_clients: OauthClientsTable
  audit_events: AuditEventsTable
  org_event_counters: OrgEventCountersTable
  org_events: OrgEventsTable
  webhooks: WebhooksTable
  webhook_deliveries: WebhookDeliveriesTable
  webhook_attempts: WebhookAttemptsTable
  event_sink_cursors: EventSinkCursorsTable
}

export type User = Selectable<UsersTable>
export type Organization = Selectable<OrganizationsTable>
export type OrgRole = Selectable<OrgRolesTable>
export type OrgApiKey = Selectable<OrgApiKeysTable>
export type OrgEvent = Selectable<OrgEventsTable>
export type Webhook = Selectable<WebhooksTable>
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>
export type NewAuditEvent = Insertable<AuditEventsTable>
