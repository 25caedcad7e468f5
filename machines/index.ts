/** The bundled example workflows. */
export { onboardingMachine } from './onboarding.js';
export { humanApprovalMachine, simulatedNotifier, REMINDER_MS, DEADLINE_MS, MAX_REMINDERS } from './humanApproval.js';
export { researchAgentMachine, simulatedResearchServices, APPROVAL_DEADLINE_MS, ESCALATION_DEADLINE_MS } from './researchAgent.js';
export type { ResearchInput, ResearchOutput } from './researchAgent.js';
export { orderFulfilmentMachine, simulatedOrderServices } from './orderFulfilment.js';
export type { OrderInput, OrderOutput } from './orderFulfilment.js';
export { batchImportMachine, simulatedRecordStore, batchProgress } from './batchImport.js';
export type { BatchInput, BatchOutput } from './batchImport.js';
