//! Gossip topics: one for blocks and one for equivocation evidence, namespaced by network name,
//! and the subscription filter that allows only these.

use std::collections::HashSet;

use libp2p::gossipsub::{IdentTopic, TopicHash, WhitelistSubscriptionFilter};

/// A medchain gossip topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// New blocks (`BlockMessage`).
    Blocks,
    /// Equivocation evidence (`EquivocationEvidence`).
    Evidence,
}

impl Topic {
    /// Both topics.
    pub const ALL: [Topic; 2] = [Topic::Blocks, Topic::Evidence];

    /// The topic's name on network `network`: `/medchain/<network>/<kind>/1`.
    pub fn name(self, network: &str) -> String {
        let kind = match self {
            Topic::Blocks => "blocks",
            Topic::Evidence => "evidence",
        };
        format!("/medchain/{network}/{kind}/1")
    }

    /// The gossipsub topic on network `network`.
    pub fn ident(self, network: &str) -> IdentTopic {
        IdentTopic::new(self.name(network))
    }
}

/// The topics of one network, with a reverse lookup from topic hash.
#[derive(Clone, Debug)]
pub struct Topics {
    blocks: TopicHash,
    evidence: TopicHash,
}

impl Topics {
    /// The topics of network `network`.
    pub fn new(network: &str) -> Self {
        Topics {
            blocks: Topic::Blocks.ident(network).hash(),
            evidence: Topic::Evidence.ident(network).hash(),
        }
    }

    /// The hash of `topic`.
    pub fn hash(&self, topic: Topic) -> TopicHash {
        match topic {
            Topic::Blocks => self.blocks.clone(),
            Topic::Evidence => self.evidence.clone(),
        }
    }

    /// Which of our topics `hash` is, if any.
    pub fn lookup(&self, hash: &TopicHash) -> Option<Topic> {
        if *hash == self.blocks {
            Some(Topic::Blocks)
        } else if *hash == self.evidence {
            Some(Topic::Evidence)
        } else {
            None
        }
    }

    /// A subscription filter that accepts only our topics.
    pub fn filter(&self) -> WhitelistSubscriptionFilter {
        WhitelistSubscriptionFilter(HashSet::from([self.blocks.clone(), self.evidence.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_namespaced_and_looked_up() {
        let a = Topics::new("alpha");
        let b = Topics::new("beta");
        assert_ne!(a.hash(Topic::Blocks), b.hash(Topic::Blocks));
        assert_eq!(a.lookup(&a.hash(Topic::Evidence)), Some(Topic::Evidence));
        assert_eq!(a.lookup(&b.hash(Topic::Blocks)), None);
    }

    #[test]
    fn filter_allows_only_our_topics() {
        use libp2p::gossipsub::TopicSubscriptionFilter;
        let a = Topics::new("alpha");
        let mut filter = a.filter();
        assert!(filter.can_subscribe(&a.hash(Topic::Blocks)));
        assert!(filter.can_subscribe(&a.hash(Topic::Evidence)));
        assert!(!filter.can_subscribe(&Topics::new("beta").hash(Topic::Blocks)));
        assert!(!filter.can_subscribe(&IdentTopic::new("/meshsub/spam").hash()));
    }
}
