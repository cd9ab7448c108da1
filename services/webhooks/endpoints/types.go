package endpoints

import (
	"slices"

	"github.com/vidpipe/vidpipe/contract"
)

// Webhook event types: the topic names of the events, and video.failed
// for a dead letter of any stage.
const (
	TypeUploaded    = contract.TopicUploaded
	TypePlayable    = contract.TopicPlayable
	TypeTranscoded  = contract.TopicTranscoded
	TypeThumbnailed = contract.TopicThumbnailed
	TypeReady       = contract.TopicReady
	TypeFailed      = "video.failed"
	TypeDeleted     = contract.TopicDeleted
	TypeUpdated     = contract.TopicUpdated
	// TypeAll subscribes an endpoint to every type, present and future.
	TypeAll = "*"
)

// EventTypes lists every webhook event type, in documentation order.
var EventTypes = []string{TypeUploaded, TypePlayable, TypeTranscoded, TypeThumbnailed, TypeReady, TypeFailed, TypeDeleted, TypeUpdated}

// KnownType reports whether t is one of EventTypes.
func KnownType(t string) bool { return slices.Contains(EventTypes, t) }
